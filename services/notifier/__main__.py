"""`python -m services.notifier`: run the notifier service with settings from THUISBEST_* variables."""

from services.notifier.app import create_app
from shared.service import serve

if __name__ == "__main__":
    serve("notifier", create_app)
