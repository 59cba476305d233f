"""The app's exports and sessions: this song's mix and stems (or a DJ stem file), a whole folder through
the batch use case, and sessions saved and loaded; all through amssfx.recipe and amssfx.batch, as the
CLI does. Mixed into MainWindow, whose controls (query, grid, chain, mixer) they read."""
from __future__ import annotations

import threading
from pathlib import Path

from PyQt6 import QtCore, QtWidgets

from amssfx import recipe as rc
from amssfx import session as sess
from amssfx.engine import Engine
from amssfx.errors import AmssfxError, Cancelled
from amssfx.priority import lower_this_thread
from amssfx.stems import stem_file_path

from .export_dialogs import ExportDialog, FolderExportDialog
from .viewmodels import LachGridState

# The app repairs NaN/Inf input samples to silence and says where (in the status bar, on load);
# the CLI stops unless --repair-nonfinite is given.
NONFINITE = "repair"


class ExportsMixin:
    # ---- export and sessions --------------------------------------------------------------------
    def export_base(self) -> Path:
        """Where exports go by default: the folder last exported to, else the user's Music folder
        (amssfx/ in it), else the home folder; never the installed package's folder."""
        last = self.settings.value("export_base", "", str)
        if last and Path(last).is_dir():
            return Path(last)
        music = QtCore.QStandardPaths.writableLocation(QtCore.QStandardPaths.StandardLocation.MusicLocation)
        return Path(music or Path.home()) / "amssfx"

    def export_dialog(self) -> None:
        if self.info is None:
            self._error("open a file first")
            return
        dlg = ExportDialog(self, str(self.export_base() / f"{self.path.stem}_amssfx"))
        if dlg.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return
        self.settings.setValue("export_base", str(Path(dlg.folder.text()).parent))
        stems = [n for n, b in dlg.stems.items() if b.isChecked()]
        self.export(dlg.folder.text(), dlg.format.currentText(), dlg.mix.isChecked(), stems, dlg.force.isChecked())

    def export(self, folder, format_name: str = "wav24", mix: bool = True, stems=("vocals", "drums", "bass", "other"),
               force: bool = False) -> threading.Thread | None:
        """Export in a worker with progress and cancel; the same engine path as the CLI."""
        if self._job is not None and self._job.is_alive():
            self._error("an export is already running")
            return None
        if self.export_engine is None:
            self.export_engine = Engine(self.engine.model.path)
        eng = self.export_engine
        recipe = self.current_recipe()
        cancel = self._cancel = threading.Event()
        self.progress_bar.show()
        self.cancel_button.show()

        def run():
            lower_this_thread()  # the preview's audio goes first (priority.py); its engine's threads inherit it
            try:
                if format_name == rc.STEM_FILE_FORMAT:
                    out = stem_file_path(recipe.input, folder)
                    rc.render_stem_file(recipe.input, eng, out, force, NONFINITE, progress=self.bridge.progress.emit,
                                        cancel=cancel)
                else:
                    rc.render_all(recipe, eng, folder, stems, mix, format_name, force, NONFINITE,
                                  progress=self.bridge.progress.emit, cancel=cancel)
                self.bridge.finished.emit(f"exported to {folder}")
            except Cancelled:
                self.bridge.finished.emit("export cancelled; no partial file was kept")
            except AmssfxError as e:
                self.bridge.failed.emit(str(e))
                self.bridge.finished.emit("export failed")

        self._job = threading.Thread(target=run, daemon=True, name="export")
        self._job.start()
        return self._job

    def folder_export_dialog(self) -> None:
        dlg = FolderExportDialog(self, str(self.path.parent if self.path else Path.home()),
                                 str(self.export_base() / "batch"))
        if dlg.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return
        self.settings.setValue("export_base", str(Path(dlg.output.text()).parent))
        self.export_folder(dlg.input.text(), dlg.output.text(), dlg.format.currentText(), dlg.mix.isChecked(),
                           dlg.with_stems.isChecked(), dlg.force.isChecked())

    def export_folder(self, in_folder, out_folder, format_name: str = "wav24", mix: bool = True,
                      stems: bool = False, force: bool = False) -> threading.Thread | None:
        """Every audio file under `in_folder` through the current query, latent channels and effects (and/or
        into stems) with the batch use case (amssfx/batch.py): worker processes, progress in files, cancel,
        resume, a summary in the output folder."""
        from amssfx import batch as bt
        from amssfx import batch_workers as workers
        from amssfx.hashing import file_sha256

        if self._job is not None and self._job.is_alive():
            self._error("an export is already running")
            return None
        stem_file = format_name == rc.STEM_FILE_FORMAT
        if not (mix or stems or stem_file):
            self._error("choose the processed mix, the stems, or both")
            return None
        r = self.current_recipe()
        try:
            items = bt.find_inputs([str(in_folder)], out_folder)
        except AmssfxError as e:
            self._error(str(e))
            return None
        model = str(Path(self.engine.model.path).resolve())
        # The song's region stays with the song: other files are edited whole.
        edit = rc.Recipe("", r.query if mix and not stem_file else "", None if stem_file else r.mask, 1.0,
                         [] if stem_file else list(r.chain), model, file_sha256(model),
                         mix=r.mix if mix and not stem_file else None)
        job = bt.Job("stems" if (stems or stem_file) else "process", edit, format_name, force, NONFINITE, "stop")
        cancel = self._cancel = threading.Event()
        self.progress_bar.show()
        self.cancel_button.show()
        Path(out_folder).mkdir(parents=True, exist_ok=True)
        results: list[dict] = []

        def on_result(res):
            results.append(res)
            self.bridge.progress.emit(len(results), len(items))

        def run():
            import time

            lower_this_thread()  # the preview's audio goes first; the worker processes inherit it
            t0 = time.perf_counter()
            try:
                workers.run_local(job, items, out_folder, None, on_result, stop=cancel)
            except KeyboardInterrupt:
                pass
            except AmssfxError as e:
                self.bridge.failed.emit(str(e))
            summary = workers.write_summary(out_folder, job, items, results, time.perf_counter() - t0)
            n = {s: sum(x["status"] == s for x in results) for s in ("ok", "skipped", "failed")}
            stopped = " (cancelled; unfinished files were not kept)" if cancel.is_set() else ""
            self.bridge.finished.emit(f"folder export{stopped}: {n['ok']} done, {n['skipped']} already done, "
                                      f"{n['failed']} failed; summary in {summary}")

        self._job = threading.Thread(target=run, daemon=True, name="folder-export")
        self._job.start()
        return self._job

    def current_recipe(self) -> "rc.Recipe":
        """What the app renders now, as a recipe (the same use cases as the CLI and the API)."""
        return rc.Recipe(str(self.path), self.query.current_text(), self.grid.state.mask().tolist(), 1.0,
                         self.current_chain(), str(self.engine.model.path), grid=self.grid.state.to_grid(),
                         mix=None if self.mixer.mix.unity else self.mixer.mix, regions=self.current_regions())

    def _progress(self, done: int, total: int) -> None:
        self.progress_bar.setMaximum(max(total, 1))
        self.progress_bar.setValue(min(done, total))

    def _job_done(self, message: str) -> None:
        self.progress_bar.hide()
        self.cancel_button.hide()
        self.statusBar().showMessage(message, 8000)
        self.log.append(message)

    def save_session_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save session", "", "amssfx session (*.json)")
        if path:
            self.save_session(path)

    def save_session(self, path) -> None:
        if self.path is None:
            self._error("open a file first")
            return
        rc.save(self.current_recipe(), self.engine, path)
        self.statusBar().showMessage(f"saved {path}", 5000)

    def load_session_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Load session", "", "amssfx session (*.json)")
        if path:
            self.load_session(path)

    def load_session(self, path) -> bool:
        try:
            s = rc.load(path)
            rc.check_model(s, self.engine)
            grid = (LachGridState.from_grid(s.grid) if s.grid is not None
                    else LachGridState.from_mask(s.mask) if s.mask is not None
                    else LachGridState(*self.engine.mask_shape))
            if (grid.heads, grid.lach) != self.engine.mask_shape:
                raise sess.SessionError(f"the session's mask is {grid.heads}x{grid.lach}, the model has "
                                        f"{self.engine.mask_shape[0]}x{self.engine.mask_shape[1]}")
        except AmssfxError as e:
            self._error(str(e))
            return False
        self.query.set_text(s.query)
        self.grid.state = grid
        self.grid.sync()
        self.chain.state.effects = list(s.chain)
        self.chain.sync()
        self.mixer.set_mix(s.mix)
        self._pending_region = None
        self._session_regions = s.regions if s.regions and len(s.regions.spans) > 1 else None
        if s.regions:  # the first region is shown on the input waveform and edited there
            a, b = s.regions.spans[0]
            end = self.info.duration_seconds if self.info is not None else a + 1.0
            self._pending_region = (a, b if b != float("inf") else end)  # for the file the session opens
            self.wave_in.region.setRegion(self._pending_region)
            if self._session_regions is not None:
                self._error(f"this session edits {len(s.regions.spans)} regions ({s.regions.describe()}); the app "
                            f"shows the first; moving it keeps only the region shown")
        self.region_box.setChecked(bool(s.regions))
        self._edited("load session")
        if self.path is None or Path(s.input).resolve() != self.path.resolve():
            self.open_file(s.input)
        else:
            self._pending_region = None
        return True
