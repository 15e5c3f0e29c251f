// Validates the HAR document on stdin with npm's har-validator (HAR 1.2); exit 0 if valid,
// else exit 1 with one line per violation on stderr. Used by the end-to-end tests.
const validate = require('har-validator');

let text = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { text += chunk; });
process.stdin.on('end', () => {
    let har;
    try {
        har = JSON.parse(text);
    } catch (e) {
        console.error(`not JSON: ${e.message}`);
        process.exit(1);
    }
    validate.har(har).then(
        () => process.exit(0),
        (e) => {
            for (const err of e.errors || [e]) {
                console.error(`${err.dataPath || ''} ${err.message || err}`.trim());
            }
            process.exit(1);
        },
    );
});
