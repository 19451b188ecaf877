"""``python -m azure_wif_credential.sandbox``: the same as ``azure-wif-credential sandbox``."""

from __future__ import annotations

from .._cli._sandbox import main

if __name__ == "__main__":
    main()
