"""`python -m taxsms` is the `taxsms` command."""

import sys

from taxsms.cli import main

sys.exit(main())
