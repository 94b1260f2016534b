"""Deprecated: moved to :mod:`sb3_ogpo.experts.collect` (``python -m sb3_ogpo.experts.collect``); kept for one release."""

import sys
import warnings

from sb3_ogpo.experts.collect import (  # noqa: F401
    FORMATS,
    collect_demonstrations,
    default_format,
    main,
    make_demo_env,
    save_demonstrations,
)

warnings.warn("sb3_ogpo.demos moved to sb3_ogpo.experts.collect (python -m sb3_ogpo.experts.collect)",
              DeprecationWarning, stacklevel=2)

if __name__ == "__main__":
    sys.exit(main())
