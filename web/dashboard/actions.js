// Job actions (only when the dashboard runs with --allow-actions and geo has them), each confirmed first.
import { postJson } from './api.js';
import { el } from './format.js';

const DESCRIPTIONS = {
  pause: 'Pause this job? No new task of it is claimed until it is resumed.',
  resume: 'Resume this job? Its tasks are claimed again.',
  'retry-failed': 'Run the failed tasks of this job again?',
  cancel: 'Cancel this job? No task of it starts after this; it cannot be undone.',
};

/** The action buttons of a job, or nothing at all when the dashboard is read-only. */
export function actionBar(config, status, onDone) {
  if (!config.actions || config.actions.length === 0) return null;
  const message = el('p', { class: 'action-message', role: 'status' });
  return el(
    'div',
    { class: 'actions', id: 'actions' },
    config.actions.map((name) =>
      el(
        'button',
        { type: 'button', class: name === 'cancel' ? 'danger' : '', dataset: { action: name }, onclick: () => confirmAndRun(name, status, message, onDone) },
        name.replace('-', ' '),
      ),
    ),
    message,
  );
}

/** The confirmation dialog, made only on a dashboard that offers actions. */
function confirmDialog() {
  let dialog = document.getElementById('confirm');
  if (dialog) return dialog;
  dialog = el(
    'dialog',
    { id: 'confirm' },
    el(
      'form',
      { method: 'dialog' },
      el('p', { id: 'confirm-text' }),
      el('label', { id: 'confirm-reason-row', hidden: true }, 'reason (optional) ', el('input', { id: 'confirm-reason', maxlength: 1000 })),
      el(
        'menu',
        {},
        el('button', { value: 'back', type: 'submit', id: 'confirm-back' }, 'back'),
        el('button', { id: 'confirm-go', value: 'go', type: 'submit', class: 'danger' }, 'confirm'),
      ),
    ),
  );
  document.body.append(dialog);
  return dialog;
}

async function confirmAndRun(name, status, message, onDone) {
  const dialog = confirmDialog();
  document.getElementById('confirm-text').textContent = `${DESCRIPTIONS[name]} (job ${status.jobId.slice(0, 12)}…)`;
  const reasonRow = document.getElementById('confirm-reason-row');
  const reason = document.getElementById('confirm-reason');
  reasonRow.hidden = name !== 'cancel';
  reason.value = '';
  document.getElementById('confirm-go').textContent = name.replace('-', ' ');
  dialog.returnValue = '';
  dialog.showModal();
  await new Promise((resolve) => dialog.addEventListener('close', resolve, { once: true }));
  if (dialog.returnValue !== 'go') return;
  try {
    const body = { confirm: status.jobId, ...(name === 'cancel' && reason.value ? { reason: reason.value } : {}) };
    await postJson(`/api/jobs/${status.jobId}/actions/${name}`, body);
    message.textContent = `${name}: done`;
  } catch (err) {
    message.textContent = `${name} failed: ${err.message}`;
  }
  onDone();
}
