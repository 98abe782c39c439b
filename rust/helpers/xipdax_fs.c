// SPDX-License-Identifier: GPL-2.0

#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/posix_acl.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/dax.h>
#include <linux/huge_mm.h>
#include <linux/sched/mm.h>
#include <linux/wait_bit.h>

void rust_helper_i_uid_write(struct inode *inode, uid_t uid)
{
	i_uid_write(inode, uid);
}

void rust_helper_i_gid_write(struct inode *inode, gid_t gid)
{
	i_gid_write(inode, gid);
}

bool rust_helper_dir_emit(struct dir_context *ctx, const char *name, int namelen,
			  u64 ino, unsigned int type)
{
	return dir_emit(ctx, name, namelen, ino, type);
}

void rust_helper_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_set(vma, flags);
}

void rust_helper_inode_lock_shared(struct inode *inode)
{
	inode_lock_shared(inode);
}

void rust_helper_inode_unlock_shared(struct inode *inode)
{
	inode_unlock_shared(inode);
}

void rust_helper_filemap_invalidate_lock_shared(struct address_space *mapping)
{
	filemap_invalidate_lock_shared(mapping);
}

void rust_helper_filemap_invalidate_unlock_shared(struct address_space *mapping)
{
	filemap_invalidate_unlock_shared(mapping);
}

loff_t rust_helper_i_size_read(const struct inode *inode)
{
	return i_size_read(inode);
}

loff_t rust_helper_bdev_nr_bytes(struct block_device *bdev)
{
	return bdev_nr_bytes(bdev);
}

void rust_helper_vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_clear(vma, flags);
}

/* The write path (inline functions of fs.h, pagemap.h). */

void rust_helper_inode_lock(struct inode *inode)
{
	inode_lock(inode);
}

int rust_helper_inode_trylock(struct inode *inode)
{
	return inode_trylock(inode);
}

void rust_helper_inode_unlock(struct inode *inode)
{
	inode_unlock(inode);
}

void rust_helper_filemap_invalidate_lock(struct address_space *mapping)
{
	filemap_invalidate_lock(mapping);
}

void rust_helper_filemap_invalidate_unlock(struct address_space *mapping)
{
	filemap_invalidate_unlock(mapping);
}

ssize_t rust_helper_generic_write_sync(struct kiocb *iocb, ssize_t count)
{
	return generic_write_sync(iocb, count);
}

void rust_helper_sb_start_pagefault(struct super_block *sb)
{
	sb_start_pagefault(sb);
}

void rust_helper_sb_end_pagefault(struct super_block *sb)
{
	sb_end_pagefault(sb);
}

void rust_helper_sb_start_intwrite(struct super_block *sb)
{
	sb_start_intwrite(sb);
}

void rust_helper_sb_end_intwrite(struct super_block *sb)
{
	sb_end_intwrite(sb);
}

void rust_helper_mark_inode_dirty(struct inode *inode)
{
	mark_inode_dirty(inode);
}

void rust_helper_i_size_write(struct inode *inode, loff_t size)
{
	i_size_write(inode, size);
}

uid_t rust_helper_i_uid_read(const struct inode *inode)
{
	return i_uid_read(inode);
}

gid_t rust_helper_i_gid_read(const struct inode *inode)
{
	return i_gid_read(inode);
}

void rust_helper_xip_inode_touch_mc(struct inode *inode)
{
	inode_set_mtime_to_ts(inode, inode_set_ctime_current(inode));
}

bool rust_helper_xip_capable_resource(void)
{
	return capable(CAP_SYS_RESOURCE);
}

bool rust_helper_xip_in_group(u32 gid)
{
	return in_group_p(make_kgid(&init_user_ns, gid));
}

u32 rust_helper_xip_current_fsuid(void)
{
	return from_kuid_munged(&init_user_ns, current_fsuid());
}

size_t rust_helper_xip_iov_iter_count(const struct iov_iter *i)
{
	return iov_iter_count(i);
}

void rust_helper_xip_file_accessed(struct file *file)
{
	file_accessed(file);
}

bool rust_helper_xip_iocb_nowait(const struct kiocb *iocb)
{
	return iocb->ki_flags & IOCB_NOWAIT;
}

bool rust_helper_xip_file_writable(const struct file *file)
{
	return file->f_mode & FMODE_WRITE;
}

/*
 * Waits until no page of @inode's DAX mapping in [@start, @end] (bytes; @end
 * included, LLONG_MAX for the rest of the file) is referenced by anyone but its
 * pagemap: get_user_pages() pins (an O_DIRECT transfer into a mapping, a
 * vmsplice()d buffer) must be gone before the blocks under them are freed.
 * dax_layout_busy_page_range() unmaps the range first, so no new pin can be
 * taken while the caller holds the invalidate lock exclusively; the lock is
 * dropped while waiting (a fault of the pinning task may need it), as
 * ext4_break_layouts() does.  Fails with -ERESTARTSYS on a signal, and at once
 * with -EBUSY if a page is pinned and @wait is false.
 */
int rust_helper_xip_dax_break_layouts(struct inode *inode, loff_t start, loff_t end,
				      bool wait)
{
	struct address_space *mapping = inode->i_mapping;
	struct page *page;
	int error;

	lockdep_assert_held_write(&mapping->invalidate_lock);
	for (;;) {
		page = dax_layout_busy_page_range(mapping, start, end);
		if (!page)
			return 0;
		if (!wait)
			return -EBUSY;
		error = ___wait_var_event(&page->_refcount,
					  atomic_read(&page->_refcount) == 1,
					  TASK_INTERRUPTIBLE, 0, 0,
					  ({ filemap_invalidate_unlock(mapping);
					     schedule();
					     filemap_invalidate_lock(mapping); }));
		if (error)
			return error;
	}
}

/*
 * get_unmapped_area of DAX files: mappings of 2 MiB or more start at a 2 MiB
 * aligned address (at the file offset's alignment), so that PMD faults can map
 * them; without transparent huge pages, the default placement.
 */
unsigned long rust_helper_xip_dax_get_unmapped_area(struct file *file,
		unsigned long addr, unsigned long len, unsigned long pgoff,
		unsigned long flags)
{
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	return thp_get_unmapped_area(file, addr, len, pgoff, flags);
#else
	return mm_get_unmapped_area(current->mm, file, addr, len, pgoff, flags);
#endif
}

/* Extended attributes and POSIX ACLs (rust/kernel/fs/xattr.rs). */

bool rust_helper_xip_capable_sys_admin(void)
{
	return capable(CAP_SYS_ADMIN);
}

void rust_helper_xip_posix_acl_release(struct posix_acl *acl)
{
	posix_acl_release(acl);
}

/* Entry @i of @acl, an ACL being filled: ids in the initial user namespace, as ext2 keeps them. */
void rust_helper_xip_acl_entry_set(struct posix_acl *acl, unsigned int i, short tag,
				   unsigned short perm, u32 id)
{
	struct posix_acl_entry *e = &acl->a_entries[i];

	e->e_tag = tag;
	e->e_perm = perm;
	if (tag == ACL_USER)
		e->e_uid = make_kuid(&init_user_ns, id);
	else if (tag == ACL_GROUP)
		e->e_gid = make_kgid(&init_user_ns, id);
}

void rust_helper_xip_acl_entry_get(const struct posix_acl *acl, unsigned int i, short *tag,
				   unsigned short *perm, u32 *id)
{
	const struct posix_acl_entry *e = &acl->a_entries[i];

	*tag = e->e_tag;
	*perm = e->e_perm;
	if (e->e_tag == ACL_USER)
		*id = from_kuid(&init_user_ns, e->e_uid);
	else if (e->e_tag == ACL_GROUP)
		*id = from_kgid(&init_user_ns, e->e_gid);
	else
		*id = 0;
}
