"""`python -m pricebook.cli`."""

import sys

from pricebook.cli import main

sys.exit(main())
