import type { Command } from 'commander';
import { describeClients } from '../../store/embedded/clients.js';
import { embeddedServerInfo, embeddedServerUrl, stopEmbeddedServer } from '../../store/embedded/server.js';
import { databaseUrlOf } from '../../store/index.js';
import { type GlobalOptions, withContext } from '../context.js';
import { embeddedNotInUse } from '../render/database.js';

export function registerDatabase(program: Command, globals: () => GlobalOptions): void {
  program
    .command('migrate')
    .description('apply pending schema migrations (every command also does this on first use)')
    .action(async () => {
      await withContext(globals(), async (ctx) => {
        await ctx.store(1);
        if (ctx.output.jsonMode) ctx.output.json({ migrated: true });
        else ctx.output.line('schema is up to date');
      });
    });

  const db = program.command('db').description('the embedded PostgreSQL server (used when DATABASE_URL is unset)');
  db.command('status')
    .description('where the embedded database lives and whether it runs')
    .option('--show-url', "also print the running server's connection URL, password included")
    .action(async (flags: { showUrl?: boolean }) => {
      await withContext(globals(), async (ctx) => {
        const notInUse = embeddedNotInUse(ctx.config);
        if (notInUse) ctx.output.notice(notInUse);
        const info = await embeddedServerInfo(ctx.config.home);
        // The URL carries the password: only when asked, never in the default output.
        const url = flags.showUrl ? ((await embeddedServerUrl(ctx.config.home)) ?? null) : undefined;
        if (ctx.output.jsonMode) ctx.output.json({ ...info, inUse: notInUse === undefined, ...(url === undefined ? {} : { url }) });
        else {
          ctx.output.line(`${info.dataDir}: ${info.running ? `running on 127.0.0.1:${info.port}` : 'not running'}`);
          if (url) ctx.output.line(url);
        }
      });
    });
  db.command('url')
    .description('print the connection URL of the database geo uses, password included, for workers that are not geo')
    .action(async () => {
      await withContext(globals(), async (ctx) => {
        // Started and migrated first: the URL is for a worker that calls the completion API at once.
        await ctx.store(1);
        const url = await databaseUrlOf({ databaseUrl: ctx.config.databaseUrl, home: ctx.config.home });
        if (ctx.output.jsonMode) ctx.output.json({ url });
        else ctx.output.line(url);
      });
    });
  db.command('stop')
    .description('stop the embedded server (the next command starts it again); refuses while clients are connected')
    .option('--force', 'stop it even while clients (a running submit, psql) are connected, disconnecting them')
    .action(async (flags: { force?: boolean }) => {
      await withContext(globals(), async (ctx) => {
        const { stopped, disconnected } = await stopEmbeddedServer(ctx.config.home, { force: flags.force ?? false });
        if (ctx.output.jsonMode) ctx.output.json({ stopped, disconnected });
        else if (!stopped) ctx.output.line('it was not running');
        else if (disconnected.length > 0) ctx.output.line(`stopped; clients disconnected: ${describeClients(disconnected)}`);
        else ctx.output.line('stopped');
      });
    });
}
