// Which controls are enabled: everything that changes the export is locked while one runs.
import { $, el } from '../dom.js';
import { state } from '../state.js';
import { selectedItems } from './selection.js';

export function updateControls() {
  const { running, active } = state;
  const busy = !!running;
  el.run.disabled = busy || !active?.ready;
  el.cancel.disabled = !busy;
  el.confirm.disabled = running?.phase !== 'review';
  el.reviewCancel.disabled = running?.phase !== 'review';
  el.progress.dataset.phase = running?.phase || (el.download.hidden ? 'idle' : 'done');
  for (const input of [el.files, el.folder, el.secret, el.secretToggle, $('secret-file'), $('secret-generate'),
    $('secret-remember'), $('settings-export'), $('settings-import'), $('lang')]) input.disabled = busy;
  for (const id of ['deid-settings', 'save-settings', 'layout-settings']) $(id).disabled = busy;
  el.clear.disabled = busy || selectedItems().length === 0;
  el.dropzone.classList.toggle('disabled', busy);
  document.body.classList.toggle('busy', busy);
}
