"""``python -m estuary_cudacompat --pth``: the line of the .pth file that installs the fallback."""

import sys

from estuary_cudacompat import PTH_LINE

if __name__ == "__main__":
    if sys.argv[1:] == ["--pth"]:
        print(PTH_LINE)
    else:
        print("usage: python -m estuary_cudacompat --pth", file=sys.stderr)
        sys.exit(2)
