#!/usr/bin/env python3
"""The editor's command: ``python send.py DIGEST [options]`` is ``newsletter send DIGEST [options]``."""

import sys

from newsletter.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["send"]
    main()
