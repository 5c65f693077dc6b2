import { wholeNumber } from '../args.js';
import { writeLines, type Command } from '../context.js';
import { EXIT } from '../errors.js';
import { runsTable, statusScreen, type RunListItem } from '../screens.js';
import { watch } from './run.js';

export const status: Command = async ({ client, io, args }) => {
  writeLines(io.stdout, statusScreen(await client.status(args.run)));
  return EXIT.ok;
};

export const cancel: Command = async ({ client, io, args }) => {
  const answer = await client.cancel(args.run);
  writeLines(io.stdout, [`${answer.id} ${answer.state}`]);
  return EXIT.ok;
};

export const retry: Command = async (ctx) => {
  const answer = await ctx.client.retry(ctx.args.run);
  writeLines(ctx.io.stdout, [
    `${answer.id} ${answer.state} again (retry ${answer.retry}), resuming at ${answer.resumesAt}`,
  ]);
  return ctx.options.wait ? watch(ctx, answer.id) : EXIT.ok;
};

export const list: Command = async ({ client, io, options }) => {
  const limit = wholeNumber(options, 'limit', 'list', 1, 100) ?? 20;
  const cursor = options.cursor as string | undefined;
  const page = await client.list(limit, cursor);
  const runs = page.runs as unknown as RunListItem[];
  if (runs.length === 0) {
    writeLines(io.stdout, [cursor ? 'no more runs' : 'no runs yet']);
    return EXIT.ok;
  }
  writeLines(io.stdout, runsTable(runs));
  const limitOption = options.limit === undefined ? '' : ` --limit ${limit}`;
  const more = page.next ? `; next page: imgcluster list${limitOption} --cursor ${page.next}` : '';
  writeLines(io.stderr, [`${runs.length} of ${page.total} runs${more}`]);
  return EXIT.ok;
};
