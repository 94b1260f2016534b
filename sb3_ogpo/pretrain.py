"""Deprecated alias of ``python -m sb3_ogpo.starts`` (the CLI that makes a task's clipped BC start)."""

import sys
import warnings

from sb3_ogpo.starts.__main__ import build_parser, main

# Run as a script the warning belongs to this module (shown as __main__'s); imported, to the importer.
warnings.warn("sb3_ogpo.pretrain is deprecated: use python -m sb3_ogpo.starts", DeprecationWarning,
              stacklevel=1 if __name__ == "__main__" else 2)

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
