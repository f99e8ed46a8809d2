import sys

from goalcluster.cli import main

sys.exit(main())
