import sys

from moana.cli import main

sys.exit(main())
