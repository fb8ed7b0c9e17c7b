// Builds the files intake serves at /client/eventlog.js and /client/eventlog.min.js (an ES module each)
// into the Python package, where they are committed: `pip install` needs no node. `npm run build`; the
// tests check that the committed files are this build of src/ and that the minified one fits its budget.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = process.argv[2] || path.join(here, '..', '..', 'src', 'eventplatform', 'gate', 'static');
const banner = { js: '/* eventplatform browser client (clients/js), Apache-2.0. Built by esbuild from clients/js/src. */' };
const common = {
	entryPoints: [path.join(here, 'src', 'eventlog.js')],
	bundle: true,
	format: 'esm',
	target: ['es2020'],
	banner,
	legalComments: 'none',
	logLevel: 'warning',
};
await build({ ...common, outfile: path.join(outdir, 'eventlog.js') });
await build({ ...common, outfile: path.join(outdir, 'eventlog.min.js'), minify: true });
