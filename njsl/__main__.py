import sys

from njsl.cli import main

sys.exit(main())
