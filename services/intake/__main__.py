"""`python -m services.intake`: run the intake service with settings from THUISBEST_* variables."""

from services.intake.app import create_app
from shared.service import serve

if __name__ == "__main__":
    serve("intake", create_app)
