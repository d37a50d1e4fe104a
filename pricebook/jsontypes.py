"""The name of a decoded JSON document read by key (a stored audit before/after, a review
config document, a Scrapyd answer): its values are whatever JSON holds, checked where read."""

from __future__ import annotations

from typing import Any

#: a JSON object as json/msgspec decode it: text keys, values of any JSON type
JSONObject = dict[str, Any]
