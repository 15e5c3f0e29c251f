// Imports a HAR log or a Trace Event Format file (on stdin) with the DevTools that ships inside
// Debian's chromium, the code behind its Network panel's "Import HAR" and its Performance
// panel's "Load profile": chromium is started headless with a remote-debugging port, whose
// HTTP server serves the bundled DevTools front end; a page of that origin imports the front
// end's own modules (`models/har/har.js`, `models/trace/trace.js`) and runs them on the input.
// Prints what DevTools made of it as JSON on stdout; exits 1 with the error if it rejected it.
// Usage: node devtools-import.js har|trace < FILE
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

async function main() {
    const kind = process.argv[2];
    if (kind !== 'har' && kind !== 'trace') {
        throw new Error('usage: devtools-import.js har|trace < FILE');
    }
    const input = fs.readFileSync(0, 'utf8');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'httptrace-devtools-'));
    const context = await chromium.launchPersistentContext(dir, {
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu', '--remote-debugging-port=0', '--remote-debugging-address=127.0.0.1',
            '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
        // Chromium writes the port it bound to the profile directory.
        let port;
        for (let i = 0; i < 100 && !port; i++) {
            try {
                port = fs.readFileSync(path.join(dir, 'DevToolsActivePort'), 'utf8').split('\n')[0];
            } catch {
                await new Promise((r) => setTimeout(r, 50));
            }
        }
        if (!port) {
            throw new Error('chromium did not report its remote-debugging port');
        }
        const page = await context.newPage();
        const errors = [];
        page.on('pageerror', (e) => errors.push(String(e)));
        const front = `http://127.0.0.1:${port}/devtools`;
        const probe = await page.goto(`${front}/models/har/har.js`);
        if (!probe || probe.status() !== 200) {
            throw new Error(`this chromium serves no DevTools front end at ${front}`);
        }
        const result = await page.evaluate(kind === 'har' ? importHar : importTrace, input);
        result.pageErrors = errors;
        process.stdout.write(JSON.stringify(result) + '\n');
    } finally {
        await context.close();
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

// Runs in the DevTools origin: the Network panel's HAR import.
async function importHar(text) {
    const HAR = await import('/devtools/models/har/har.js');
    const root = new HAR.HARFormat.HARRoot(JSON.parse(text));
    const requests = HAR.Importer.Importer.requestsFromHARLog(root.log);
    return {
        pages: root.log.pages.length,
        requests: await Promise.all(requests.map(async (r) => ({
            url: r.url(),
            method: r.requestMethod,
            status: r.statusCode,
            statusText: r.statusText,
            protocol: r.protocol,
            remoteAddress: r.remoteAddress(),
            connectionId: r.connectionId,
            startTime: r.startTime,
            endTime: r.endTime,
            timing: r.timing,
            postData: await r.requestFormData(),
            requestHeaders: r.requestHeaders().length,
            responseHeaders: r.responseHeaders.length,
            requestCookies: r.includedRequestCookies().length,
            responseCookies: r.responseCookies.length,
            finished: r.finished,
        }))),
    };
}

// Runs in the DevTools origin: the Performance panel's trace engine, every handler.
async function importTrace(text) {
    const Trace = await import('/devtools/models/trace/trace.js');
    const model = Trace.TraceModel.Model.createWithAllHandlers();
    await model.parse(JSON.parse(text));
    const parsed = model.parsedTrace(0);
    const threads = [];
    for (const [pid, proc] of parsed.data.Renderer.processes) {
        for (const [tid, thread] of proc.threads) {
            threads.push({
                pid: Number(pid),
                tid: Number(tid),
                name: thread.name,
                slices: thread.entries.length,
                // The call tree DevTools draws as a flame chart: its roots and its depth.
                roots: thread.tree ? thread.tree.roots.size : -1,
                depth: thread.tree ? thread.tree.maxDepth : -1,
            });
        }
    }
    return { events: parsed.traceEvents.length, threads };
}

main().catch((e) => {
    console.error(String(e && e.stack || e));
    process.exit(1);
});
