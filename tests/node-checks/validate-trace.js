// Validates the Chrome Trace Event Format document (JSON Array Format) on stdin against
// trace-event.schema.json with ajv; the closing ']' may be missing, as the format allows for a
// run cut short. Exit 0 if valid, else exit 1 with one line per violation on stderr. Used by
// the end-to-end tests of the perfetto plugin.
const Ajv = require('ajv');
const schema = require('./trace-event.schema.json');

let text = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { text += chunk; });
process.stdin.on('end', () => {
    let trace;
    const body = text.trim();
    try {
        trace = JSON.parse(body.endsWith(']') ? body : body.replace(/,\s*$/, '') + ']');
    } catch (e) {
        console.error(`not JSON: ${e.message}`);
        process.exit(1);
    }
    const ajv = new Ajv({ allErrors: true });
    if (ajv.validate(schema, trace)) {
        process.exit(0);
    }
    for (const err of ajv.errors) {
        console.error(`${err.dataPath} ${err.message}`);
    }
    process.exit(1);
});
