"""MMEngine's ``Runner`` with atomic checkpoint writes.

``Runner.save_checkpoint`` writes ``iter_N.pth`` in place (``open(path,
'wb')``), so a run killed, or out of disk space, while saving leaves a
partial file under the checkpoint's name, and a later save of that name
(after ``--resume``) is the only thing that repairs it. Here the checkpoint
is written to ``iter_N.pth.partial``, flushed to disk and renamed
(``os.replace``, atomic on POSIX and Windows): ``iter_N.pth`` is complete
or absent. ``CheckpointHook`` writes ``last_checkpoint`` only after the
save returns, so it never names a partial file. A failed write (a full
disk) removes the partial file and raises :class:`CheckpointSaveError`,
one line naming the file and the reason.
"""
import os
import os.path as osp
from typing import Optional

from mmengine.dist import master_only
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

__all__ = ['AtomicSaveRunner', 'CheckpointSaveError']

PARTIAL_SUFFIX = '.partial'


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (e.g. no space left on device)."""


@RUNNERS.register_module()
class AtomicSaveRunner(Runner):
    """A ``Runner`` whose local checkpoints are written to a temporary file
    and renamed into place; the arguments are ``Runner``'s.

    Remote ``out_dir`` (``s3://...``) and explicit ``backend_args`` are
    left to their file backend, as ``Runner`` does.
    """

    @master_only
    def save_checkpoint(self,
                        out_dir: str,
                        filename: str,
                        file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        meta: Optional[dict] = None,
                        by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        kwargs = dict(
            file_client_args=file_client_args,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler,
            meta=meta,
            by_epoch=by_epoch,
            backend_args=backend_args)
        if '://' in out_dir or file_client_args or backend_args:
            super().save_checkpoint(out_dir, filename, **kwargs)
            return
        final = osp.join(out_dir, filename)
        partial = final + PARTIAL_SUFFIX
        try:
            super().save_checkpoint(out_dir, filename + PARTIAL_SUFFIX,
                                    **kwargs)
            with open(partial, 'r+b') as f:
                os.fsync(f.fileno())  # on disk before it takes the name
            os.replace(partial, final)
        except BaseException as err:  # incl. KeyboardInterrupt
            if osp.exists(partial):
                os.remove(partial)
            if not isinstance(err, OSError):
                raise
            raise CheckpointSaveError(
                f'{final}: could not save the checkpoint '
                f'({err.strerror or err}); nothing was written under that '
                'name and last_checkpoint still names the previous '
                'checkpoint') from err
