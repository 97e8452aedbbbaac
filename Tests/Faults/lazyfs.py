#!/usr/bin/python3
"""lazyfs.py -- a FUSE passthrough file system that loses unsynced data on a power cut.

Usage:  /usr/bin/python3 lazyfs.py BACKING_DIR MOUNTPOINT
Prints "mounted" once the mount is up; SIGTERM unmounts and exits 0; SIGKILL is a power cut.
Needs Debian's python3-pyfuse3 (3.2) and python3-trio, plus fuse3 and /dev/fuse.

What it models (the idea of LazyFS): file *data* written through the mount is held only in
this process's memory, per inode, as pending 4 KiB blocks plus a pending file size, until
fsync()/fdatasync() of that file writes it into BACKING_DIR and os.fsync()s it there. close()
(flush/release) is not a sync. A truncate is pending too. Reads merge the pending state over
the backing file. So after `kill -KILL` of this process, the backing dir holds exactly what
was fsynced (plus the metadata below), as a disk would after a power loss.

What it does not model (simplifications):
  * Metadata is durable at once: create, mknod, mkdir, unlink, rmdir, rename, symlink,
    chmod/chown/utimens go straight to the backing dir. A real file system may lose a create
    or rename that was not followed by an fsync of the directory; here it never does.
    fsyncdir does os.fsync the backing directory anyway.
  * The kernel page cache of the mount is not "lost" by the kill itself: the crash test must
    kill this process, detach the dead mount (umount -l / fusermount3 -uz) and mount afresh,
    which starts with an empty cache.
  * No torn or reordered writes within an fsync: a sync either happened or it did not.
  * A clean stop (SIGTERM) writes all pending data back, as unmounting a real fs does.
  * No hard links (link is ENOSYS), no xattrs, no lock ops (the kernel handles POSIX fcntl
    and flock locks locally, which is what SQLite uses). Not for concurrent modification
    of BACKING_DIR from outside while mounted.
  * mmap(MAP_SHARED) works (no direct_io): dirty mapped pages reach us as ordinary writes
    when the kernel writes them back, so e.g. SQLite's -shm is pending data like any other.
"""
import errno
import functools
import os
import resource
import signal
import sys

import pyfuse3
import trio

BS = 4096          # pending-block size
TIMEOUT = 1.0      # kernel attribute / entry cache timeout (s)


class Node:
    """One inode. fd is a backing O_RDWR fd, kept while open or while data is pending."""

    def __init__(self, ino, bino, path):
        self.ino, self.bino, self.path = ino, bino, path   # path None once unlinked
        self.lookups = self.opens = 0
        self.fd = None
        self.blocks = {}      # block index -> bytearray(BS), unsynced data
        self.size = None      # pending logical size (None: size of the backing file)
        self.valid = None     # backing bytes at >= valid are void (truncated away), None: all valid

    def pending(self):
        return self.size is not None


def fsop(fn):
    """Run a synchronous handler as a pyfuse3 coroutine, mapping OSError to FUSEError."""
    @functools.wraps(fn)
    async def wrapper(self, *args):
        try:
            return fn(self, *args)
        except OSError as e:
            raise pyfuse3.FUSEError(e.errno or errno.EIO) from None
        except KeyError:
            raise pyfuse3.FUSEError(errno.ESTALE) from None
    return wrapper


class LazyFS(pyfuse3.Operations):
    enable_writeback_cache = False

    def __init__(self, backing):
        super().__init__()
        root = os.fsencode(os.path.abspath(backing))
        st = os.lstat(root)
        self.nodes = {pyfuse3.ROOT_INODE: Node(pyfuse3.ROOT_INODE, st.st_ino, root)}
        self.nodes[pyfuse3.ROOT_INODE].lookups = 1 << 62   # never forgotten
        self.by_bino = {st.st_ino: pyfuse3.ROOT_INODE}     # backing st_ino -> our inode
        self.next_ino = pyfuse3.ROOT_INODE + 1   # own numbers: ext4 reuses st_ino quickly

    # ---- inode bookkeeping -------------------------------------------------------------
    def _path(self, parent, name):
        p = self.nodes[parent].path
        if p is None:
            raise FileNotFoundError(errno.ENOENT, 'parent gone')
        return os.path.join(p, name)

    def _node(self, st, path):
        ino = self.by_bino.get(st.st_ino)
        if ino is None:
            ino, self.next_ino = self.next_ino, self.next_ino + 1
            self.nodes[ino] = Node(ino, st.st_ino, path)
            self.by_bino[st.st_ino] = ino
        node = self.nodes[ino]
        if node.ino != pyfuse3.ROOT_INODE:
            node.path = path
        return node

    def _stat(self, node):
        if node.fd is not None:
            return os.fstat(node.fd)
        if node.path is None:
            raise FileNotFoundError(errno.ENOENT, 'unlinked')
        return os.lstat(node.path)

    def _attr(self, node, st=None):
        st = st or self._stat(node)
        e = pyfuse3.EntryAttributes()
        for a in ('st_mode', 'st_nlink', 'st_uid', 'st_gid', 'st_rdev', 'st_blksize',
                  'st_blocks', 'st_atime_ns', 'st_mtime_ns', 'st_ctime_ns'):
            setattr(e, a, getattr(st, a))
        e.st_ino = node.ino
        e.st_size = node.size if node.pending() else st.st_size
        e.generation = 0
        e.entry_timeout = e.attr_timeout = TIMEOUT
        return e

    def _entry(self, path):
        """A lookup reply for path: counts as one kernel lookup."""
        st = os.lstat(path)
        node = self._node(st, path)
        node.lookups += 1
        return self._attr(node, st)

    def _gone(self, bino):
        """The backing file with this st_ino lost its last name."""
        ino = self.by_bino.pop(bino, None)
        if ino is not None:
            node = self.nodes[ino]
            node.path = None
            self._settle(node)

    def _settle(self, node):
        """Close the fd / drop the node when nothing needs it any more."""
        if node.ino == pyfuse3.ROOT_INODE or node.opens > 0:
            return
        if node.pending() and node.path is not None:
            return           # unsynced data of a live file stays in "RAM"
        if node.fd is not None:
            os.close(node.fd)
            node.fd = None
        node.blocks, node.size, node.valid = {}, None, None
        if node.lookups <= 0:
            del self.nodes[node.ino]
            if self.by_bino.get(node.bino) == node.ino:
                del self.by_bino[node.bino]

    def _fd(self, node):
        if node.fd is None:
            if node.path is None:
                raise FileNotFoundError(errno.ENOENT, 'unlinked')
            node.fd = os.open(node.path, os.O_RDWR | os.O_CLOEXEC)
        return node.fd

    def _chown(self, path, ctx):
        if (ctx.uid, ctx.gid) != (os.geteuid(), os.getegid()):
            os.lchown(path, ctx.uid, ctx.gid)

    # ---- the lazy data model -----------------------------------------------------------
    def _size(self, node):
        return node.size if node.pending() else os.fstat(node.fd).st_size

    def _backing(self, node, off, length):
        """length bytes of the backing file at off, void parts and holes as zeros."""
        limit = off + length if node.valid is None else min(off + length, node.valid)
        data = os.pread(node.fd, max(0, limit - off), off) if limit > off else b''
        return data + bytes(length - len(data))

    def _read(self, node, off, size):
        end = min(off + size, self._size(node))
        if off >= end:
            return b''
        if not node.blocks:
            return self._backing(node, off, end - off)
        out, pos = bytearray(), off
        while pos < end:
            i = pos // BS
            stop = min((i + 1) * BS, end)
            blk = node.blocks.get(i)
            out += blk[pos - i * BS:stop - i * BS] if blk is not None else \
                self._backing(node, pos, stop - pos)
            pos = stop
        return bytes(out)

    def _write(self, node, off, buf):
        cur = self._size(node)
        pos, end = off, off + len(buf)
        while pos < end:
            i = pos // BS
            stop = min((i + 1) * BS, end)
            blk = node.blocks.get(i)
            if blk is None:   # read-modify-write unless the whole block is overwritten
                blk = bytearray(BS) if stop - pos == BS else \
                    bytearray(self._backing(node, i * BS, BS))
                node.blocks[i] = blk
            blk[pos - i * BS:stop - i * BS] = buf[pos - off:stop - off]
            pos = stop
        node.size = max(cur, end)

    def _truncate(self, node, size):
        self._fd(node)
        cur = self._size(node)
        if size < cur:
            node.valid = size if node.valid is None else min(node.valid, size)
            first_dead = -(-size // BS)   # blocks starting at or after size
            for i in [i for i in node.blocks if i >= first_dead]:
                del node.blocks[i]
            blk = node.blocks.get(size // BS)
            if blk is not None:
                blk[size % BS:] = bytes(BS - size % BS)
        node.size = size

    def _sync(self, node, datasync):
        if node.fd is None:
            return
        fd = node.fd
        if node.pending():
            if node.valid is not None and node.valid < os.fstat(fd).st_size:
                os.ftruncate(fd, node.valid)
            for i in sorted(node.blocks):
                n = min(BS, node.size - i * BS)
                if n > 0:
                    os.pwrite(fd, node.blocks[i][:n], i * BS)
            if os.fstat(fd).st_size != node.size:
                os.ftruncate(fd, node.size)
            node.blocks, node.size, node.valid = {}, None, None
        (os.fdatasync if datasync else os.fsync)(fd)

    def sync_all(self):
        for node in list(self.nodes.values()):
            if node.pending() and node.path is not None:
                self._sync(node, False)

    # ---- FUSE operations ---------------------------------------------------------------
    @fsop
    def lookup(self, parent, name, ctx):
        if name == b'.':
            return self._entry(self.nodes[parent].path)
        return self._entry(os.path.normpath(self._path(parent, name)))

    @fsop
    def forget(self, inode_list):
        for ino, n in inode_list:
            node = self.nodes.get(ino)
            if node is not None:
                node.lookups -= n
                self._settle(node)

    @fsop
    def getattr(self, inode, ctx):
        return self._attr(self.nodes[inode])

    @fsop
    def setattr(self, inode, attr, fields, fh, ctx):
        node = self.nodes[inode]
        target = node.fd if node.fd is not None else node.path
        if fields.update_size:
            self._truncate(node, attr.st_size)
        if fields.update_mode:
            os.chmod(target, attr.st_mode & 0o7777)
        if fields.update_uid or fields.update_gid:
            os.chown(target, attr.st_uid if fields.update_uid else -1,
                     attr.st_gid if fields.update_gid else -1)
        if fields.update_atime or fields.update_mtime:
            st = self._stat(node)
            os.utime(target, ns=(attr.st_atime_ns if fields.update_atime else st.st_atime_ns,
                                 attr.st_mtime_ns if fields.update_mtime else st.st_mtime_ns))
        self._settle(node)
        return self._attr(node)

    @fsop
    def readlink(self, inode, ctx):
        return os.readlink(self.nodes[inode].path)

    @fsop
    def opendir(self, inode, ctx):
        return inode

    @fsop
    def readdir(self, fh, start_id, token):
        # next_id is the index into the sorted listing: fine for a test tool.
        path = self.nodes[fh].path
        names = sorted(os.listdir(path))
        for idx in range(start_id, len(names)):
            p = os.path.join(path, names[idx])
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            node = self._node(st, p)
            if not pyfuse3.readdir_reply(token, names[idx], self._attr(node, st), idx + 1):
                self._settle(node)
                break
            node.lookups += 1   # readdirplus: each reported entry is a lookup

    @fsop
    def releasedir(self, fh):
        pass

    @fsop
    def fsyncdir(self, fh, datasync):
        fd = os.open(self.nodes[fh].path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @fsop
    def mkdir(self, parent, name, mode, ctx):
        path = self._path(parent, name)
        os.mkdir(path, mode)
        self._chown(path, ctx)
        return self._entry(path)

    @fsop
    def mknod(self, parent, name, mode, rdev, ctx):
        path = self._path(parent, name)
        os.mknod(path, mode, rdev)
        self._chown(path, ctx)
        return self._entry(path)

    @fsop
    def symlink(self, parent, name, target, ctx):
        path = self._path(parent, name)
        os.symlink(target, path)
        self._chown(path, ctx)
        return self._entry(path)

    @fsop
    def unlink(self, parent, name, ctx):
        path = self._path(parent, name)
        st = os.lstat(path)
        os.unlink(path)
        if st.st_nlink <= 1:
            self._gone(st.st_ino)

    @fsop
    def rmdir(self, parent, name, ctx):
        path = self._path(parent, name)
        st = os.lstat(path)
        os.rmdir(path)
        self._gone(st.st_ino)

    @fsop
    def rename(self, parent_old, name_old, parent_new, name_new, flags, ctx):
        if flags:
            raise OSError(errno.EINVAL, 'rename flags not supported')
        old, new = self._path(parent_old, name_old), self._path(parent_new, name_new)
        st = os.lstat(old)
        try:
            victim = os.lstat(new)
        except FileNotFoundError:
            victim = None
        os.rename(old, new)
        if victim is not None and victim.st_ino != st.st_ino and victim.st_nlink <= 1:
            self._gone(victim.st_ino)
        ino = self.by_bino.get(st.st_ino)
        if ino is not None:
            self.nodes[ino].path = new
        prefix = old + b'/'
        for node in self.nodes.values():   # a renamed directory moves its descendants
            if node.path is not None and node.path.startswith(prefix):
                node.path = new + node.path[len(old):]

    @fsop
    def statfs(self, ctx):
        sv = os.statvfs(self.nodes[pyfuse3.ROOT_INODE].path)
        out = pyfuse3.StatvfsData()
        for a in ('f_bsize', 'f_frsize', 'f_blocks', 'f_bfree', 'f_bavail', 'f_files',
                  'f_ffree', 'f_favail', 'f_namemax'):
            setattr(out, a, getattr(sv, a))
        return out

    @fsop
    def access(self, inode, mode, ctx):
        return True   # mounted with default_permissions: the kernel checks modes itself

    @fsop
    def open(self, inode, flags, ctx):
        node = self.nodes[inode]
        self._fd(node)
        node.opens += 1
        if flags & os.O_TRUNC:
            self._truncate(node, 0)
        # keep_cache: all changes come through this mount, and it keeps MAP_SHARED coherent
        return pyfuse3.FileInfo(fh=inode, keep_cache=True)

    @fsop
    def create(self, parent, name, mode, flags, ctx):
        path = self._path(parent, name)
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC | (flags & os.O_EXCL), mode)
        try:
            self._chown(path, ctx)
            st = os.fstat(fd)
            node = self._node(st, path)
            if node.fd is None:
                node.fd, fd = fd, None
        finally:
            if fd is not None:
                os.close(fd)
        node.lookups += 1
        node.opens += 1
        if flags & os.O_TRUNC:
            self._truncate(node, 0)
        return pyfuse3.FileInfo(fh=node.ino, keep_cache=True), self._attr(node)

    @fsop
    def read(self, fh, off, size):
        return self._read(self.nodes[fh], off, size)

    @fsop
    def write(self, fh, off, buf):
        self._write(self.nodes[fh], off, buf)
        return len(buf)

    @fsop
    def flush(self, fh):
        pass   # close() is not a sync

    @fsop
    def release(self, fh):
        node = self.nodes[fh]
        node.opens -= 1
        self._settle(node)

    @fsop
    def fsync(self, fh, datasync):
        self._sync(self.nodes[fh], datasync)


async def serve(ops):
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            async def fuse_loop():
                await pyfuse3.main()
                nursery.cancel_scope.cancel()   # unmounted from outside
            nursery.start_soon(fuse_loop)
            print('mounted', flush=True)
            async for _ in signals:
                break
            pyfuse3.terminate()


def main():
    if len(sys.argv) != 3:
        sys.exit('usage: lazyfs.py BACKING_DIR MOUNTPOINT')
    backing, mountpoint = sys.argv[1:]
    os.umask(0)   # the kernel has already applied the caller's umask
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ops = LazyFS(backing)
    options = set(pyfuse3.default_options) | {'fsname=lazyfs', 'subtype=lazyfs'}
    pyfuse3.init(ops, mountpoint, options)
    try:
        trio.run(serve, ops)
    finally:
        pyfuse3.close(unmount=True)
    ops.sync_all()   # clean stop: write back like a real unmount would


if __name__ == '__main__':
    main()
