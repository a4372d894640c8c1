// Gust's JavaScript runner: QuickJS (through componentize-qjs), exporting the
// `script` world of sdk-guest/wit/script.wit. A step's script arrives as
// text with each call and runs in this fresh instance; nothing survives
// between calls. The script is an ES module whose default export (or
// exported `run`) is `run(input, ctx)`.

import salesforceHost from "gust:step/salesforce@0.1.0";
import logHost from "gust:step/log@0.1.0";
import stateHost from "gust:step/state@0.1.0";

/** A failure of the step; `retryable: false` when running it again cannot help. */
class StepError extends Error {
  constructor(message, options = {}) {
    super(message);
    this.name = "StepError";
    this.retryable = options.retryable ?? true;
  }
}

/** An error answered by Salesforce, or by Gust on its behalf (`GUST_*` codes). */
class SalesforceError extends Error {
  constructor(error) {
    super(`${error.errorCode}: ${error.message}`);
    this.name = "SalesforceError";
    this.status = error.status;
    this.errorCode = error.errorCode;
    this.fields = error.fields;
    this.retryable = error.retryable;
  }
}

const STOPPED = Symbol("gust.stopped");

/** The value of `ctx.stop(output)`: the step's output, and the run ends. */
function stop(output) {
  return { [STOPPED]: true, output };
}

const gust = Object.freeze({ StepError, SalesforceError, stop });

// An import's `err`, which the runtime throws as an Error whose `payload`
// is the WIT error value.
const payload = (error) => (error !== null && typeof error === "object" ? error.payload : undefined);

// A Salesforce call: the host's answer, or a SalesforceError thrown.
function call(action, ...args) {
  try {
    return action(...args);
  } catch (error) {
    const sfError = payload(error);
    if (sfError !== null && typeof sfError === "object" && "errorCode" in sfError) {
      throw new SalesforceError(sfError);
    }
    throw error;
  }
}

const parsed = (text) => (text === "" ? null : JSON.parse(text));

// The query with its `:name` parameters written as SOQL literals by the host.
const bound = (soql, params) =>
  params === undefined ? soql : call(salesforceHost.bind, soql, JSON.stringify(params));

const salesforce = Object.freeze({
  query: (soql, params) => JSON.parse(call(salesforceHost.query, bound(soql, params))),
  queryAll: (soql, params) => JSON.parse(call(salesforceHost.queryAll, bound(soql, params))),
  bind: (soql, params) => call(salesforceHost.bind, soql, JSON.stringify(params)),
  get: (sobject, id, fields = []) => JSON.parse(call(salesforceHost.get, sobject, id, fields)),
  create: (sobject, record) => call(salesforceHost.create, sobject, JSON.stringify(record)),
  update: (sobject, id, record) => {
    call(salesforceHost.update, sobject, id, JSON.stringify(record));
  },
  upsert: (sobject, externalIdField, externalId, record) =>
    call(salesforceHost.upsert, sobject, externalIdField, String(externalId), JSON.stringify(record)),
  delete: (sobject, id) => {
    call(salesforceHost.delete, sobject, id);
  },
  writeMany: (operation, sobject, records, options = {}) =>
    JSON.parse(
      call(salesforceHost.writeMany, operation, sobject, JSON.stringify(records), {
        externalIdField: options.externalIdField ?? null,
        allOrNone: options.allOrNone ?? false,
      }),
    ),
  publish: (event, events) => JSON.parse(call(salesforceHost.publish, event, JSON.stringify(events))),
  describe: (sobject) => JSON.parse(call(salesforceHost.describe, sobject)),
  request: (method, path, body) =>
    parsed(call(salesforceHost.request, method, path, body === undefined ? null : JSON.stringify(body))),
});

const text = (parts) =>
  parts.map((part) => (typeof part === "string" ? part : JSON.stringify(part))).join(" ");

const log = Object.freeze({
  trace: (...parts) => logHost.log("trace", text(parts)),
  debug: (...parts) => logHost.log("debug", text(parts)),
  info: (...parts) => logHost.log("info", text(parts)),
  warn: (...parts) => logHost.log("warn", text(parts)),
  error: (...parts) => logHost.log("error", text(parts)),
});

const state = Object.freeze({
  get: (key) => {
    const value = stateHost.get(key);
    return value === null || value === undefined ? null : JSON.parse(value);
  },
  set: (key, value) => {
    try {
      stateHost.set(key, JSON.stringify(value));
    } catch (error) {
      throw new StepError(String(payload(error) ?? error), { retryable: false });
    }
  },
  delete: (key) => stateHost.delete(key),
});

const ctx = Object.freeze({ salesforce, log, state, stop, StepError, SalesforceError });

globalThis.console = Object.freeze({
  log: log.info,
  info: log.info,
  debug: log.debug,
  warn: log.warn,
  error: log.error,
  trace: log.trace,
});

// A script problem found before it runs: `name:line:column: message`.
class ScriptProblem {
  constructor(name, line, column, message) {
    this.text = `${name}:${line}:${column}: ${message}`;
  }
}

const EXPORT = /^(\s*)export\s+(default\s+|(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)|(?:const|let|var|class)\s+([A-Za-z_$][\w$]*))/;
const IMPORT = /^(\s*)import\b\s*(?:([\s\S]*?)\s*from\s*)?["']([^"']+)["']/;
const IMPORT_START = /^\s*import\s*[^\s(.]/;
const FROM_GUST = /^\{\s*([A-Za-z_$][\w$]*(?:\s*,\s*[A-Za-z_$][\w$]*)*)\s*,?\s*\}$/;

// The script as the body of a function of `__gust_exports` and `__gust`:
// each `export` at the start of a line becomes an assignment to
// `__gust_exports`, `import { ... } from "gust"` a destructuring of `__gust`;
// lines stay where they were, so errors point at the author's lines.
function translate(name, source) {
  const exported = [];
  const lines = source.split("\n").map((line, index) => {
    if (IMPORT_START.test(line)) {
      const found = IMPORT.exec(line);
      const names = found && found[2] !== undefined ? FROM_GUST.exec(found[2].trim()) : null;
      if (found && found[3] === "gust" && names) {
        return `${found[1]}const { ${names[1]} } = __gust;${line.slice(found[0].length)}`;
      }
      const what = found ? `"${found[3]}"` : "a module";
      throw new ScriptProblem(
        name,
        index + 1,
        line.search(/\S/) + 1,
        `cannot import ${what}: a JavaScript step runs alone, with no modules; ` +
          `Gust's API comes as \`ctx\` (and \`import { StepError, SalesforceError, stop } from "gust"\`), ` +
          `and a library must be bundled into the script`,
      );
    }
    const found = EXPORT.exec(line);
    if (!found) {
      return line;
    }
    const indent = found[1];
    const rest = line.slice(found[0].length);
    if (found[2].startsWith("default")) {
      return `${indent}__gust_exports.default = ${rest}`;
    }
    const declared = found[3] ?? found[4];
    exported.push(declared);
    return `${indent}${found[2].replace(/^export\s+/, "")}${rest}`;
  });
  const exports = exported.map((declared) => `__gust_exports.${declared} = ${declared};`).join(" ");
  return `${lines.join("\n")}\n;${exports}`;
}

// The file name and position QuickJS gives an error, if it names the script.
function position(error) {
  const stack = String(error && error.stack ? error.stack : "");
  const found = /<input>:(\d+):(\d+)/.exec(stack) ?? /:(\d+):(\d+)/.exec(stack);
  return found ? [Number(found[1]), Number(found[2])] : null;
}

// The lines `new Function` puts before the body it is given.
const HEADER_LINES = (() => {
  try {
    new Function("__gust_exports", "__gust", "@");
  } catch (error) {
    return (position(error) ?? [1])[0] - 1;
  }
  return 0;
})();

// The position in the script of a position in its compiled function.
const inScript = ([line, column]) => [Math.max(1, line - HEADER_LINES), column];

function compile(name, source) {
  const body = translate(name, source);
  try {
    return new Function("__gust_exports", "__gust", body);
  } catch (error) {
    const [line, column] = inScript(position(error) ?? [HEADER_LINES + 1, 1]);
    throw new ScriptProblem(name, line, column, `${error.name}: ${error.message}`);
  }
}

// An export's `err` is thrown, as an object whose `payload` is the WIT
// error value; its `ok` is returned.
export function check(name, source) {
  try {
    compile(name, source);
  } catch (error) {
    throw { payload: error instanceof ScriptProblem ? error.text : String(error) };
  }
}

function failure(message, retryable) {
  throw { payload: { message, retryable } };
}

// The error's name, message, and the script's frames of its stack, with
// the script's own lines and columns.
function described(error, name) {
  if (!(error instanceof Error)) {
    return `uncaught exception: ${text([error])}`;
  }
  const frames = String(error.stack ?? "")
    .split("\n")
    .filter((frame) => frame.includes("<input>:"))
    .map((frame) =>
      frame.replace(/<input>:(\d+):(\d+)/, (_, line, column) => {
        const [scriptLine, scriptColumn] = inScript([Number(line), Number(column)]);
        return `${name}:${scriptLine}:${scriptColumn}`;
      }),
    );
  return [`${error.name}: ${error.message}`, ...frames].join("\n");
}

export function run(name, source, input) {
  let entry;
  try {
    const exports = {};
    compile(name, source)(exports, gust);
    entry = exports.default ?? exports.run;
  } catch (error) {
    const message = error instanceof ScriptProblem ? error.text : described(error, name);
    failure(message, false);
  }
  if (typeof entry !== "function") {
    failure(
      `${name}: the script exports no function to run: write \`export default function run(input, ctx) { ... }\``,
      false,
    );
  }
  let result;
  try {
    result = entry(JSON.parse(input), ctx);
  } catch (error) {
    if (error instanceof StepError || error instanceof SalesforceError) {
      failure(described(error, name), error.retryable);
    }
    failure(described(error, name), false);
  }
  if (result instanceof Promise) {
    failure(
      `${name}: run returned a Promise: a JavaScript step is synchronous (so are ctx's calls); drop \`async\` and \`await\``,
      false,
    );
  }
  const stopped = result !== null && typeof result === "object" && result[STOPPED] === true;
  const output = stopped ? result.output : result;
  let json;
  try {
    json = JSON.stringify(output === undefined ? null : output);
  } catch (error) {
    failure(`the step's output cannot be written as JSON: ${error.message}`, false);
  }
  return { output: json, flow: stopped ? "stop" : "continue" };
}
