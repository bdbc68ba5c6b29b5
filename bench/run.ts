/**
 * `npm run bench` entry: the delivery benchmark by default, `npm run bench -- ingest` for the
 * ingest benchmark, `npm run bench -- web` for the archive and feeds,
 * `npm run bench -- subscribers` for the CSV import, `npm run bench -- inbound` for bounce reports. Each benchmark runs its own main on import.
 */
const which = process.argv[2] && !process.argv[2].startsWith('-') ? process.argv[2] : 'delivery';
if (which === 'ingest') await import('./ingest.ts');
else if (which === 'web') await import('./web.ts');
else if (which === 'subscribers') await import('./subscriber-import.ts');
else if (which === 'inbound') await import('./inbound.ts');
else if (which === 'delivery') await import('./delivery.ts');
else {
  console.error(`unknown benchmark "${which}": use delivery (default), ingest, web, subscribers or inbound`);
  process.exit(2);
}
