// SPDX-License-Identifier: GPL-2.0

#include <linux/mm.h>
#include <linux/memory_hotplug.h>
#include <linux/sched.h>
#include <linux/wait_bit.h>

void *rust_helper_page_address(const struct page *page)
{
	return page_address(page);
}

unsigned long rust_helper_page_to_pfn(const struct page *page)
{
	return page_to_pfn(page);
}

/* Memory hotplug and device pagemaps (rust/kernel/mem_hotplug.rs, dev_pagemap.rs). */

int rust_helper_xip_page_zonenum(const struct page *page)
{
	return page_zonenum(page);
}

int rust_helper_xip_page_nid(const struct page *page)
{
	return page_to_nid(page);
}

/*
 * Waits up to @timeout jiffies until the ZONE_DEVICE page at @pfn is idle.  An
 * fsdax page's refcount is 1 when nobody holds it (its pagemap holds that one);
 * whoever drops it back to 1 wakes the waiters on it, as
 * __put_devmap_managed_folio_refs() does.  Returns whether it is idle.
 */
bool rust_helper_xip_devmap_page_wait_idle(unsigned long pfn, long timeout)
{
	struct page *page = pfn_to_page(pfn);

	return wait_var_event_timeout(&page->_refcount,
				      page_ref_count(page) == 1, timeout) != 0;
}

/*
 * Whether a page in [@pfn, @pfn + @nr) is offline or reserved (PG_reserved: a
 * memblock allocation made at boot, such as the memmap or the KASAN shadow,
 * which offlining can never migrate).  For choosing memory blocks to offline.
 */
bool rust_helper_xip_range_has_reserved(unsigned long pfn, unsigned long nr)
{
	unsigned long end = pfn + nr;

	for (; pfn < end; pfn++) {
		struct page *page = pfn_to_online_page(pfn);

		if (!page || PageReserved(page))
			return true;
		if (!(pfn % 4096))
			cond_resched();
	}
	return false;
}

/*
 * Whether the kernel's direct mapping maps physical address @phys with a
 * 1 GiB page.  x86-64's memory hot-remove (remove_pud_table()) cannot split
 * one: removing a memory block inside it reads the gigabyte page as a page
 * table and crashes.  Blocks mapped so must not be removed on their own.
 */
bool rust_helper_xip_direct_map_gbpage(u64 phys)
{
#ifdef CONFIG_X86_64
	unsigned int level;
	pte_t *pte = lookup_address((unsigned long)__va(phys), &level);

	return pte && level == PG_LEVEL_1G;
#else
	return false;
#endif
}
