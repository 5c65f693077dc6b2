import { writeLines, type Command } from '../context.js';
import { EXIT } from '../errors.js';
import { clustersTable } from '../screens.js';

export const clusters: Command = async ({ client, io, args }) => {
  const answer = await client.clusters(args.run);
  const images = answer.clusters.reduce((sum, c) => sum + c.size, 0);
  writeLines(io.stdout, [
    `${answer.id}: ${answer.k} clusters of ${images} images`,
    '',
    ...clustersTable(answer.clusters),
  ]);
  return EXIT.ok;
};
