// SPDX-License-Identifier: GPL-2.0

#include <linux/bio.h>
#include <linux/completion.h>

struct bio_vec rust_helper_bio_iter_iovec(struct bio *bio, struct bvec_iter iter)
{
	return bio_iter_iovec(bio, iter);
}

void rust_helper_bio_advance_iter_single(const struct bio *bio,
					 struct bvec_iter *iter, unsigned int bytes)
{
	bio_advance_iter_single(bio, iter, bytes);
}

void rust_helper_init_completion(struct completion *x)
{
	init_completion(x);
}
