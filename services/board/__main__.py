"""`python -m services.board`: run the board with settings from THUISBEST_* variables."""

from services.board.app import create_app
from shared.service import serve

if __name__ == "__main__":
    serve("board", create_app)
