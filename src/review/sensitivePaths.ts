// The files whose change can run code or redirect secrets without the user
// running anything of the project: editor tasks and settings, git's own
// files, CI workflows, dev containers, shell start-up files, package
// manager and direnv config. A review marks them and asks before Accept All
// writes them. The one list; matched at any depth and in any case (macOS
// and Windows fold case), for renames on both names.

/** Folders whose every file is sensitive, by name, at any depth. */
const SENSITIVE_FOLDERS: Record<string, string> = {
  '.git': "git's own folder: hooks and config run commands",
  '.vscode': "VS Code's tasks, launch configurations and settings can run commands in this folder",
  '.devcontainer': 'the dev container definition decides what runs, and with which mounts, when the folder is reopened in a container',
  '.astraforge': "AstraForge's own configuration for this folder",
  '.husky': 'git hooks that run on commit and push',
  '.circleci': "CI configuration that runs with the repository's secrets",
  '.buildkite': "CI configuration that runs with the repository's secrets",
};

/** Folder pairs, as `.github/workflows`, at any depth. */
const SENSITIVE_SUBFOLDERS: Record<string, string> = {
  '.github/workflows': "GitHub Actions workflows run with the repository's secrets",
  '.github/actions': "GitHub Actions used by the workflows run with the repository's secrets",
};

/** File names that are sensitive wherever they are. */
const SENSITIVE_FILES: Record<string, string> = {
  '.bashrc': 'a shell start-up file: it runs in every new shell',
  '.bash_profile': 'a shell start-up file: it runs in every login shell',
  '.bash_login': 'a shell start-up file: it runs in every login shell',
  '.bash_logout': 'a shell file: it runs when a login shell exits',
  '.bash_aliases': 'a shell start-up file: it runs in every new shell',
  '.profile': 'a shell start-up file: it runs in every login shell',
  '.zshrc': 'a shell start-up file: it runs in every new shell',
  '.zprofile': 'a shell start-up file: it runs in every login shell',
  '.zshenv': 'a shell start-up file: it runs in every zsh',
  '.zlogin': 'a shell start-up file: it runs in every login shell',
  '.zlogout': 'a shell file: it runs when a login shell exits',
  '.envrc': 'direnv runs it on entering the folder',
  '.npmrc': 'npm configuration: registries, tokens and scripts for installs',
  '.yarnrc': 'yarn configuration: registries and tokens',
  '.yarnrc.yml': 'yarn configuration: its yarnPath runs on every yarn command',
  '.pnpmfile.cjs': 'pnpm runs it on every install',
  '.pypirc': 'package index configuration and credentials',
  '.git': 'a .git file points git at another repository',
  '.gitconfig': 'git configuration: it can name commands git runs',
  '.gitattributes': 'git attributes choose the filter, diff and merge drivers git runs',
  '.gitmodules': 'submodules: where git fetches code from',
  '.pre-commit-config.yaml': 'pre-commit hooks run on commit',
  '.gitlab-ci.yml': "CI configuration that runs with the repository's secrets",
  '.travis.yml': "CI configuration that runs with the repository's secrets",
  'azure-pipelines.yml': "CI configuration that runs with the repository's secrets",
  jenkinsfile: "CI configuration that runs with the repository's secrets",
  '.devcontainer.json': 'the dev container definition decides what runs when the folder is reopened in a container',
};

/** Why a workspace-relative path is sensitive; undefined when it is not. */
export function sensitiveReason(path: string): string | undefined {
  const names = path.toLowerCase().split(/[\\/]/);
  const file = names[names.length - 1];
  if (Object.hasOwn(SENSITIVE_FILES, file)) return SENSITIVE_FILES[file];
  for (const [i, name] of names.slice(0, -1).entries()) {
    if (Object.hasOwn(SENSITIVE_FOLDERS, name)) return SENSITIVE_FOLDERS[name];
    const pair = `${name}/${names[i + 1]}`;
    if (i + 1 < names.length - 1 && Object.hasOwn(SENSITIVE_SUBFOLDERS, pair)) return SENSITIVE_SUBFOLDERS[pair];
  }
  return undefined;
}

/** Why a change is sensitive: by where it writes, or for a rename, by where it takes the file from. */
export function sensitiveChangeReason(path: string, oldPath?: string): string | undefined {
  return sensitiveReason(path) ?? (oldPath !== undefined ? sensitiveReason(oldPath) : undefined);
}

/** The list, for the documentation and the tests. */
export const SENSITIVE_LIST = {
  folders: Object.keys(SENSITIVE_FOLDERS),
  subfolders: Object.keys(SENSITIVE_SUBFOLDERS),
  files: Object.keys(SENSITIVE_FILES),
};
