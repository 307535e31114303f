#!/usr/bin/env node
// `npm init @bot-bottle/backend <dir>` runs this (npm maps it to @bot-bottle/create-backend).
import { main } from '../dist/cli.js';

process.exitCode = await main(process.argv.slice(2));
