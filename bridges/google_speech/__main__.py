from bridges.cli import main
from bridges.google_speech import SPEC

main(SPEC)
