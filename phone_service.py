"""Phone service (port 8001): Twilio calls in, the orchestrator's turns out, every call logged.

Run:  python phone_service.py
  or: uvicorn phone_service:create_app --factory --host 0.0.0.0 --port 8001

The service lives in `lidia.phone`; this entry point keeps the name users know.
"""

from lidia.phone.app import create_app, main

__all__ = ["create_app", "main"]

if __name__ == "__main__":
    main()
