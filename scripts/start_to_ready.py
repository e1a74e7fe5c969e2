"""Start-to-ready time of a Lambda function binary: from process start to its first request for
an invocation on a Lambda Runtime API served here on 127.0.0.1 (the binary builds its SDK clients
and tracing first, as it would on a cold start). Prints the median and best of `--runs`.
"""

import argparse
import http.server
import os
import statistics
import subprocess
import threading
import time

ready = threading.Event()


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            ready.set()
        # Never answer: the measurement ends at the request.
        time.sleep(5)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("binary")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the function")
    args = parser.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_port}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        **dict(kv.split("=", 1) for kv in args.env),
    }
    times = []
    for _ in range(args.runs):
        ready.clear()
        started = time.perf_counter()
        process = subprocess.Popen(
            [args.binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not ready.wait(timeout=10):
            process.kill()
            raise SystemExit(f"{args.binary} never asked for an invocation")
        times.append(time.perf_counter() - started)
        process.kill()
        process.wait()
    server.shutdown()
    print(
        f"{os.path.basename(args.binary)}: start to ready median "
        f"{statistics.median(times) * 1e3:.1f} ms, best {min(times) * 1e3:.1f} ms "
        f"over {args.runs} starts"
    )


if __name__ == "__main__":
    main()
