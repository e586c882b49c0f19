"""`python -m pipeline` runs `powerx`."""

from pipeline.cli.powerx import main

if __name__ == "__main__":
    main()
