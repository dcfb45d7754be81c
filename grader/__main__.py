"""``python -m grader``: the same command as ``grader`` (useful from a checkout or a worktree)."""

import sys

from .cli import main

sys.exit(main())
