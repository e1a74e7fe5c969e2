"""moto's server with requests handled one at a time.

DynamoDB applies each write (and its condition) atomically; moto's server handles requests on
concurrent threads without that guarantee, so concurrent conditional updates of one item can both
pass their condition. Serialising request handling restores the guarantee the code relies on.

With --record PATH, every request signed with an access key other than --own-key is appended to
PATH as one JSON line (the key, the service of its credential scope, method, path, query, the
X-Amz-Target header, the body of a JSON or form request, and the answer's status): what
scripts/iam_check.py reads back as the calls each function made.

Usage: python3 scripts/moto_serial.py -H 127.0.0.1 -p PORT [--record PATH [--own-key KEY]]
"""
import argparse
import io
import json
import re
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request

CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")
# The bodies that name what a call acts on; an object's bytes (S3) never do.
TEXT_BODIES = ("application/x-amz-json", "application/json", "application/x-www-form-urlencoded")


class Recorder:
    """Appends each request of a key other than `own_key` to a JSON-lines file."""

    def __init__(self, path, own_key):
        self.file = open(path, "a", encoding="utf-8")
        self.own_key = own_key

    def wrap(self, app):
        def recording(environ, start_response):
            match = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
            if not match or match.group(1) == self.own_key:
                return app(environ, start_response)
            request = Request(environ)
            body = request.get_data(cache=True)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            status = []

            def recorded_start(code, headers, *rest):
                status.append(int(code.split()[0]))
                return start_response(code, headers, *rest)

            answer = app(environ, recorded_start)
            content_type = environ.get("CONTENT_TYPE", "")
            self.file.write(json.dumps({
                "key": match.group(1), "region": match.group(2), "service": match.group(3),
                "method": environ["REQUEST_METHOD"], "path": request.path,
                "query": request.query_string.decode("utf-8", "replace"),
                "target": environ.get("HTTP_X_AMZ_TARGET"),
                "body": body.decode("utf-8", "replace") if content_type.startswith(TEXT_BODIES) else None,
                "status": status[0] if status else None,
            }) + "\n")
            self.file.flush()
            return answer
        return recording


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    parser.add_argument("--record", help="append the requests of other keys to this JSON-lines file")
    parser.add_argument("--own-key", default="testing", help="the access key whose requests are not recorded")
    args = parser.parse_args()
    backend = DomainDispatcherApplication(create_backend_app)
    if args.record:
        backend = Recorder(args.record, args.own_key).wrap(backend)
    lock = threading.Lock()

    def serialised(environ, start_response):
        with lock:
            return list(backend(environ, start_response))

    run_simple(args.host, args.port, serialised, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
