// SPDX-License-Identifier: GPL-2.0

#include <kunit/test-bug.h>

/*
 * Fails the running KUnit test (if any) with a message at file:line.  `args` is
 * a Rust `fmt::Arguments`, printed with `%pA`.
 */
void rust_helper_kunit_fail_current_test(const char *file, int line, const void *args)
{
#if IS_ENABLED(CONFIG_KUNIT)
	if (kunit_hooks.fail_current_test)
		kunit_hooks.fail_current_test(file, line, "%pA", args);
#endif
}
