// The bridge between the Rust side and jsonata.js: compiles expressions once per runtime, evaluates
// them with JSON input and bindings, and answers with one JSON envelope:
// {"result": value}, {"undefined": true} or {"error": {"code", "message", "position", "token"}}.
(function () {
    'use strict';
    const jsonata = globalThis.jsonata;
    const RealDate = Date;
    const realNow = RealDate.now;

    // $now() and $millis() read the clock through `new Date()`; an evaluation may fix that clock.
    let clockMillis = null;
    class ClockDate extends RealDate {
        constructor(...args) {
            if (args.length === 0 && clockMillis !== null) {
                super(clockMillis);
            } else {
                super(...args);
            }
        }
        static now() {
            return clockMillis !== null ? clockMillis : realNow();
        }
    }
    globalThis.Date = ClockDate;

    // $base64encode and $base64decode use the browser's btoa and atob.
    const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    function btoa(binary) {
        let out = '';
        for (let i = 0; i < binary.length; i += 3) {
            const [a, b, c] = [0, 1, 2].map(k => binary.charCodeAt(i + k));
            out += B64[a >> 2] + B64[((a & 3) << 4) | (b >> 4 || 0)] +
                (isNaN(b) ? '=' : B64[((b & 15) << 2) | (c >> 6 || 0)]) +
                (isNaN(c) ? '=' : B64[c & 63]);
        }
        return out;
    }
    function atob(text) {
        const clean = String(text).replace(/[\s=]/g, '');
        let out = '', bits = 0, value = 0;
        for (const ch of clean) {
            const index = B64.indexOf(ch);
            if (index < 0) throw { code: 'D3137', message: 'Invalid base64 text' };
            value = (value << 6) | index;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out += String.fromCharCode((value >> bits) & 255);
            }
        }
        return out;
    }
    globalThis.window = { btoa: globalThis.btoa || btoa, atob: globalThis.atob || atob };

    // The runaway guard of one evaluation, as JSONata's own test harness counts depth and time.
    let guard = null;
    function check() {
        if (guard.depth > guard.maxDepth) {
            throw {
                code: 'U1001',
                message: 'Stack overflow error: Check for non-terminating recursive function.  ' +
                    'Consider rewriting as tail-recursive.'
            };
        }
        if (realNow() - guard.start > guard.timeLimit) {
            throw { code: 'U1001', message: 'Expression evaluation timeout: Check for infinite loop' };
        }
    }
    function enter(expr, input, environment) {
        if (guard === null || environment.isParallelCall) return;
        guard.depth++;
        check();
    }
    function exit(expr, input, environment) {
        if (guard === null || environment.isParallelCall) return;
        guard.depth--;
        check();
    }

    function nativeFunction(set, index) {
        return function (...args) {
            const wrapped = JSON.stringify(args.map(a => (a === undefined ? [] : [a])), replacer);
            const answer = JSON.parse(globalThis.__native(set, index, wrapped));
            if (answer.error) {
                throw answer.error;
            }
            return answer.result;
        };
    }

    const cache = new Map();
    const CACHE_LIMIT = 4096;
    function compile(text, set, functions) {
        const key = set + '\u0000' + text;
        let expr = cache.get(key);
        if (expr === undefined) {
            expr = jsonata(text);
            functions.forEach(([name, signature], index) => {
                expr.registerFunction(name, nativeFunction(set, index), signature || undefined);
            });
            expr.assign(Symbol.for('jsonata.__evaluate_entry'), enter);
            expr.assign(Symbol.for('jsonata.__evaluate_exit'), exit);
            if (cache.size >= CACHE_LIMIT) cache.clear();
            cache.set(key, expr);
        }
        return expr;
    }

    function isFunction(v) {
        return typeof v === 'function' ||
            (v !== null && typeof v === 'object' && (v._jsonata_lambda || v._jsonata_function));
    }
    // Functions are not JSON: dropped, as JSON.stringify drops them. Nor are Infinity and NaN
    // (`1/0`), in a result or a native function's arguments: D1001, as jsonata.js raises for one
    // inside the value `$string` writes, where JSON.stringify would write null.
    function replacer(key, value) {
        if (typeof value === 'number' && !isFinite(value)) {
            throw { code: 'D1001', message: 'Number out of range: ' + value, value: value };
        }
        return isFunction(value) ? undefined : value;
    }
    function answer(value) {
        if (value === undefined || isFunction(value)) return '{"undefined":true}';
        try {
            return JSON.stringify({ result: value }, replacer);
        } catch (err) {
            return failure(err);
        }
    }
    function failure(err) {
        if (err === null || typeof err !== 'object') {
            return JSON.stringify({ error: { code: 'U1000', message: String(err) } });
        }
        // JSONata's own errors carry a code; any other (a JavaScript TypeError or RangeError, the
        // engine out of stack or memory) is U1000, named in the message.
        const coded = typeof err.code === 'string';
        const text = String(err.message !== undefined ? err.message : err);
        const error = {
            code: coded ? err.code : 'U1000',
            message: coded || !err.name ? text : err.name + ': ' + text
        };
        if (typeof err.position === 'number') error.position = err.position;
        if (err.token !== undefined) error.token = String(err.token);
        return JSON.stringify({ error: error });
    }

    // Compiles `text` (with the native function set `set`); the envelope's result is true.
    globalThis.__compile = function (text, set, functionsJson) {
        try {
            compile(text, set, JSON.parse(functionsJson));
            return '{"result":true}';
        } catch (err) {
            return failure(err);
        }
    };

    // Evaluates `text`; answers a promise of the envelope.
    globalThis.__evaluate = function (text, set, functionsJson, inputJson, bindingsJson, optionsJson) {
        let expr;
        const options = JSON.parse(optionsJson);
        try {
            expr = compile(text, set, JSON.parse(functionsJson));
        } catch (err) {
            return Promise.resolve(failure(err));
        }
        const input = inputJson === undefined ? undefined : JSON.parse(inputJson);
        const bindings = JSON.parse(bindingsJson);
        clockMillis = typeof options.now === 'number' ? options.now : null;
        guard = (options.depth !== undefined || options.timeLimit !== undefined) ? {
            depth: 0,
            maxDepth: options.depth !== undefined ? options.depth : Infinity,
            timeLimit: options.timeLimit !== undefined ? options.timeLimit : Infinity,
            start: realNow()
        } : null;
        return expr.evaluate(input, bindings).then(answer, failure).finally(() => {
            clockMillis = null;
            guard = null;
        });
    };
})();
