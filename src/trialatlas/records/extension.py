"""The trialatlas extension to the ClinicalTrials.gov API v2 study document.

API v2 has no place for a few facts that only legacy XML records carry, and for facts
about where a record came from. They live under one top-level key, ``trialatlas``, so an
API v2 client that ignores unknown keys sees a standard document. docs/record-format.md
lists every field.

    "trialatlas": {
      "legacy": {                        # only from legacy XML
        "oversightAuthorities": [str],   # <oversight_info><authority>: the "Health authority"
        "isFdaRegulated": bool,          # <is_fda_regulated> (pre-2017 single flag)
        "firstReceivedDate": str,        # <firstreceived_date>, ISO date
        "lastChangedDate": str,          # <lastchanged_date>, ISO date
        "verificationDate": str          # <verification_date>, ISO yyyy-mm
      },
      "source": {                        # provenance; excluded from the content hash
        "format": "legacy-xml" | "api-v2-json",
        "downloadDate": str              # <required_header><download_date>, ISO date
      },
      "synthetic": true                  # only on records made by `trialatlas synth`
    }
"""

from __future__ import annotations

EXTENSION_KEY = "trialatlas"
LEGACY = "legacy"
SOURCE = "source"
SYNTHETIC = "synthetic"
