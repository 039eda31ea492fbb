"""`python -m services.scheduler`: run the scheduler service with settings from THUISBEST_* variables."""

from services.scheduler.app import create_app
from shared.service import serve

if __name__ == "__main__":
    serve("scheduler", create_app)
