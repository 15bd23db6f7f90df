import type { Command } from 'commander';
import open from 'open';
import { availableActions } from '../../dashboard/actions.js';
import { coreActions } from '../../dashboard/core-actions.js';
import { startDashboard } from '../../dashboard/server.js';
import { errorMessage } from '../../errors.js';
import { redact } from '../../secrets/redact.js';
import { type GlobalOptions, withContext } from '../context.js';
import { interruption } from '../interrupt.js';
import { addLogOptions, commandLogger } from '../observe.js';
import { intOption } from '../options.js';
import { packageVersion } from '../version.js';

interface DashboardFlags {
  port: number;
  host: string;
  open?: boolean;
  allowActions?: boolean;
  logFormat?: string;
  logLevel?: string;
}

export function registerDashboard(program: Command, globals: () => GlobalOptions): void {
  const command = program
    .command('dashboard')
    .description('a live web view of the jobs (progress, problems, a map of tile jobs), its JSON API, events and /metrics')
    .option('--port <n>', 'port to listen on (0: any free one)', intOption('--port', 0, 65_535), 8080)
    .option('--host <address>', 'address to listen on; anything but loopback needs GEO_DASHBOARD_TOKEN', '127.0.0.1')
    .option('--open', 'open the page in the default browser')
    .option('--allow-actions', 'offer the job actions this geo has (cancel, pause, resume, retry-failed), each confirmed; read-only without');
  addLogOptions(command).action(async (flags: DashboardFlags) => {
    await withContext({ ...globals(), logFormat: flags.logFormat, logLevel: flags.logLevel }, async (ctx) => {
      const log = commandLogger(ctx, 'geo dashboard');
      const db = await ctx.store(10);
      const { config } = ctx;
      const actions = coreActions(db, ctx.transportFor);
      const dashboard = await startDashboard({
        db,
        host: flags.host,
        port: flags.port,
        token: config.dashboardToken,
        allowActions: flags.allowActions ?? false,
        actions,
        secrets: ctx.secrets(),
        version: packageVersion(),
        onNotice: (message) => log.warn('notice', message),
      });
      try {
        const offered = availableActions(flags.allowActions ?? false, actions);
        if (ctx.output.jsonMode) {
          ctx.output.json({ url: dashboard.url, host: dashboard.host, port: dashboard.port, readOnly: offered.length === 0, actions: offered });
        } else {
          const mode = offered.length > 0 ? `actions: ${offered.join(', ')}` : 'read-only';
          ctx.output.line(`geo dashboard at ${dashboard.url} (${mode}${config.dashboardToken ? ', token required' : ''}); Ctrl-C stops it`);
        }
        log.info('dashboard_started', `geo dashboard serving ${dashboard.url}`, {
          url: dashboard.url,
          readOnly: offered.length === 0,
          actions: offered.join(','),
          metricsUrl: `${dashboard.url}metrics`,
        });
        if (flags.open) {
          // The browser gets the token once, keeps a session cookie and drops it from the address bar.
          const target = config.dashboardToken ? `${dashboard.url}?token=${encodeURIComponent(config.dashboardToken)}` : dashboard.url;
          await open(target).catch((err: unknown) =>
            log.warn('browser_not_opened', `could not open a browser (${redact(errorMessage(err), [config.dashboardToken])}); open ${dashboard.url}`),
          );
        }
        const stop = interruption.graceful();
        if (!stop.aborted) await new Promise((resolve) => stop.addEventListener('abort', resolve, { once: true }));
      } finally {
        await dashboard.close();
        log.info('dashboard_stopped', 'geo dashboard stopped');
      }
    });
  });
}
