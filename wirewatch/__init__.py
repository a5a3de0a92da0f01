"""The wirewatch program: its command line, the runner that starts the broker and one worker per stage, and the
broker and topic administration they share; the stages themselves live in `agents`, their contracts in `streams`."""
