std = 'luajit'
max_line_length = 130
unused_args = false   -- callbacks and OS-file hooks keep a common signature
files['spec/**/*.lua'] = {std = '+busted'}
exclude_files = {'build/**', 'socket2/**'}
