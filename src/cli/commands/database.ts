import type { Command } from 'commander';
import { describeClients } from '../../store/embedded/clients.js';
import { embeddedServerInfo, stopEmbeddedServer } from '../../store/embedded/server.js';
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
    .action(async () => {
      await withContext(globals(), async (ctx) => {
        const notInUse = embeddedNotInUse(ctx.config);
        if (notInUse) ctx.output.notice(notInUse);
        const info = await embeddedServerInfo(ctx.config.home);
        if (ctx.output.jsonMode) ctx.output.json({ ...info, inUse: notInUse === undefined });
        else ctx.output.line(`${info.dataDir}: ${info.running ? `running on 127.0.0.1:${info.port}` : 'not running'}`);
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
