"""``python -m ximagenet12.cli``: the ``ximagenet12`` command."""

import sys

from ximagenet12.cli import main

sys.exit(main())
