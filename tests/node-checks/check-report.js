// Opens an html report (the html plugin's) in Debian's chromium through playwright-core, with
// the network off, and prints what the browser made of it as JSON on stdout: every request the
// page tried beyond its own file, console and page errors, the waterfall's rows with each
// phase's rendered width in px, the histograms' bars, the charts' points. Takes a screenshot.
// Usage: node check-report.js REPORT.html SCREENSHOT.png [top]  (top: the first screenful only)
const path = require('path');
const { chromium } = require('playwright-core');

(async () => {
    const [report, shot, top] = process.argv.slice(2);
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
            '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ offline: true, viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    const external = [];
    const consoleErrors = [];
    const url = 'file://' + path.resolve(report);
    page.on('request', (r) => { if (r.url() !== url) external.push(r.url()); });
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    const started = Date.now();
    await page.goto(url, { waitUntil: 'load' });
    const loadMs = Date.now() - started;
    const result = await page.evaluate(() => {
        const num = (el, a) => Number(el.getAttribute(a));
        const table = document.querySelector('#waterfall');
        const rows = [...document.querySelectorAll('tr.hop')].map((tr) => ({
            request: num(tr, 'data-request'),
            hop: num(tr, 'data-hop'),
            phases: [...tr.querySelectorAll('rect.phase')].map((r) => ({
                phase: r.getAttribute('data-phase'),
                ms: num(r, 'data-ms'),
                px: r.getBoundingClientRect().width,
            })),
            attempts: [...tr.querySelectorAll('rect.attempt')].map((r) => r.getAttribute('data-outcome')),
        }));
        const hists = [...document.querySelectorAll('svg.hist')].map((s) => ({
            phase: s.getAttribute('data-phase'),
            count: num(s, 'data-count'),
            bars: [...s.querySelectorAll('rect.bar')].map((r) => num(r, 'data-count')),
        }));
        const points = (id) => { const s = document.getElementById(id); return s ? num(s, 'data-points') : 0; };
        return {
            title: document.title,
            requests: num(document.getElementById('run'), 'data-requests'),
            spanMs: table ? num(table, 'data-span-ms') : 0,
            axisPx: table ? num(table, 'data-axis-px') : 0,
            rows,
            hists,
            percentileRows: document.querySelectorAll('#percentiles tr').length - 1,
            rpsPoints: points('rps'),
            latencyPoints: points('latency'),
            text: document.body.innerText.length,
        };
    });
    await page.screenshot({ path: shot, fullPage: top !== 'top' });
    await browser.close();
    console.log(JSON.stringify({ ...result, external, consoleErrors, loadMs }));
})().catch((e) => { console.error(String(e)); process.exit(1); });
