"""moto's server with requests handled one at a time.

DynamoDB applies each write (and its condition) atomically; moto's server handles requests on
concurrent threads without that guarantee, so concurrent conditional updates of one item can both
pass their condition. Serialising request handling restores the guarantee the code relies on.

Usage: python3 scripts/moto_serial.py -H 127.0.0.1 -p PORT
"""
import argparse
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    backend = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialised(environ, start_response):
        with lock:
            return list(backend(environ, start_response))

    run_simple(args.host, args.port, serialised, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
