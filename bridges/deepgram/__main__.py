from bridges.cli import main
from bridges.deepgram import SPEC

main(SPEC)
