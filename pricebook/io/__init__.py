"""Bulk import and export of the catalogue, prices, labor and channels (CSV and XLSX).

Formats: docs/import-formats.md. `import_file` / `import_rows` are all-or-nothing.
"""

from pricebook.io.exporters import EXPORT_KINDS, export_file, export_rows
from pricebook.io.importers import IMPORT_KINDS, ImportReport, import_file, import_rows
from pricebook.io.tables import read_table, write_table

__all__ = [
    "EXPORT_KINDS",
    "IMPORT_KINDS",
    "ImportReport",
    "export_file",
    "export_rows",
    "import_file",
    "import_rows",
    "read_table",
    "write_table",
]
