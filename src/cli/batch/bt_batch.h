/* docvl batch: many documents to a mirrored output tree, with a journal
 * that makes a killed batch resumable and shards that split it over
 * processes and machines. docs/batch.md is the user's guide. */
#ifndef DV_BT_BATCH_H
#define DV_BT_BATCH_H

/* argv[0] is "batch"; returns the exit status. */
int cli_batch(int argc, char **argv);

#endif
