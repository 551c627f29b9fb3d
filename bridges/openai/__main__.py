from bridges.cli import main
from bridges.openai import SPEC

main(SPEC)
